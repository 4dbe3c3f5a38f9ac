// coderd's rules for a task log snapshot, as coderd applies them, for the two receivers that stand
// in for it (smoke's loopback receiver, and the tests' coderd) and for what we send. Read from
// coder/coder at b8d3c21b (coderd/aitasks.go: postWorkspaceAgentTaskLogSnapshot, and the reader,
// fetchSnapshotTaskLogs and convertAgentAPIMessagesToLogEntries) and at 020b4b51
// (coderd/httpmw/workspaceagent.go: the agent token), with SPEC §3 for the stop build's window
// (coder/coder#21538).
//
// The body is decoded by Go's encoding/json into agentapisdk.GetMessagesResponse: field names
// match whatever their case, unknown fields are ignored, `null` is a zero value; `id` must be an
// integer, `content` and `role` strings, `time` an RFC 3339 string (time.Time). Any role is
// stored, but the reader refuses a snapshot with a role other than user or agent (500 "Invalid
// snapshot data.").

/** coderd's limit on the raw body (taskSnapshotMaxSize, http.MaxBytesReader). */
export const SNAPSHOT_LIMIT_BYTES = 64 * 1024;

const HEX32 = /^[0-9a-f]{32}$/i;

/**
 * A UUID (a task id, an agent token) as Go's uuid.Parse (google/uuid) takes it: 36 characters with
 * dashes, 38 in braces, 45 after `urn:uuid:`, or 32 hex digits; canonical (lowercase, dashed), or
 * undefined.
 */
export function parseUuid(text: string): string | undefined {
  let hex: string;
  let s = text;
  if (s.length === 45) {
    if (s.slice(0, 9).toLowerCase() !== 'urn:uuid:') return undefined;
    s = s.slice(9);
  } else if (s.length === 38) {
    if (s[0] !== '{' || s[37] !== '}') return undefined;
    s = s.slice(1, 37);
  }
  if (s.length === 36) {
    if (s[8] !== '-' || s[13] !== '-' || s[18] !== '-' || s[23] !== '-') return undefined;
    hex = s.replaceAll('-', '');
  } else if (s.length === 32) {
    hex = s;
  } else {
    return undefined;
  }
  if (!HEX32.test(hex)) return undefined;
  const h = hex.toLowerCase();
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-](\d{2}):(\d{2}))$/;

/** Whether Go's time.Time takes `text` from JSON: RFC 3339, fraction optional, fields in range. */
export function isRfc3339(text: string): boolean {
  const m = RFC3339.exec(text);
  if (!m) return false;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  const daysIn = new Date(Date.UTC(year, month, 0)).getUTCDate();
  const zone = m[9] === undefined || (Number(m[9]) < 24 && Number(m[10]) < 60);
  return (
    month >= 1 && month <= 12 && day >= 1 && day <= daysIn && hour < 24 && minute < 60 && second < 60 && zone
  );
}

export interface DecodedMessage {
  id: number;
  content: string;
  role: string;
  time: string;
}

export type Decoded =
  | {
      ok: true;
      messages: DecodedMessage[];
      /** Stored (204), but the reader refuses it: why. */
      unreadable?: string;
    }
  | { ok: false; status: 400; message: string; detail: string };

/** A JSON object's field as Go finds it: the exact name, else one that matches whatever its case. */
function field(object: Record<string, unknown>, name: string): unknown {
  if (Object.hasOwn(object, name)) return object[name];
  const key = Object.keys(object).find((k) => k.toLowerCase() === name);
  return key === undefined ? undefined : object[key];
}

const refused = (detail: string): Decoded => ({
  ok: false,
  status: 400,
  message: 'Failed to decode request payload.',
  detail,
});

/** The body as coderd decodes and judges it, after the query and the task (those come first). */
export function decodeSnapshot(raw: Uint8Array): Decoded {
  if (raw.byteLength > SNAPSHOT_LIMIT_BYTES) return refused('http: request body too large');
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(raw).toString('utf8'));
  } catch (error) {
    return refused(error instanceof Error ? error.message : String(error));
  }
  if (json !== null && (typeof json !== 'object' || Array.isArray(json))) {
    return refused('json: cannot unmarshal into Go value of type agentapisdk.GetMessagesResponse');
  }
  const list = json === null ? undefined : field(json as Record<string, unknown>, 'messages');
  if (list === undefined || list === null) {
    return {
      ok: false,
      status: 400,
      message: 'Invalid agentapi payload structure.',
      detail: 'Missing required "messages" field.',
    };
  }
  if (!Array.isArray(list)) return refused('json: cannot unmarshal "messages" into []agentapisdk.Message');
  const messages: DecodedMessage[] = [];
  for (const [i, item] of list.entries()) {
    if (item !== null && (typeof item !== 'object' || Array.isArray(item))) {
      return refused(`json: cannot unmarshal messages.${i} into agentapisdk.Message`);
    }
    const m = (item ?? {}) as Record<string, unknown>;
    const [id, content, role, time] = ['id', 'content', 'role', 'time'].map((name) => field(m, name));
    if (id !== undefined && id !== null && !Number.isSafeInteger(id)) {
      return refused(`json: cannot unmarshal messages.${i}.id into Go struct field of type int64`);
    }
    for (const [name, value] of [
      ['content', content],
      ['role', role],
    ] as const) {
      if (value !== undefined && value !== null && typeof value !== 'string') {
        return refused(`json: cannot unmarshal messages.${i}.${name} into Go struct field of type string`);
      }
    }
    if (time !== undefined && time !== null && (typeof time !== 'string' || !isRfc3339(time))) {
      return refused(
        `parsing time ${JSON.stringify(time)} as "2006-01-02T15:04:05Z07:00": messages.${i}.time`,
      );
    }
    messages.push({
      id: (id as number | null) ?? 0,
      content: (content as string | null) ?? '',
      role: (role as string | null) ?? '',
      time: (time as string | null) ?? '0001-01-01T00:00:00Z',
    });
  }
  const odd = messages.findIndex((m) => m.role !== 'user' && m.role !== 'agent');
  return {
    ok: true,
    messages,
    unreadable:
      odd === -1
        ? undefined
        : `messages.${odd}.role is ${JSON.stringify(messages[odd].role)}: coderd stores it, but its reader refuses the snapshot (500 "Invalid snapshot data.")`,
  };
}

/** The agent token coderd answers 401 for, and in what words (httpmw/workspaceagent.go). */
export function tokenRefusal(
  token: string | undefined,
  known: boolean,
): { message: string; detail?: string } | undefined {
  if (!token) return { message: 'Cookie "coder_session_token" must be provided.' };
  if (parseUuid(token) === undefined) {
    return {
      message: 'Workspace agent token invalid.',
      detail: `An agent token must be a valid UUIDv4. (len ${token.length})`,
    };
  }
  if (!known) {
    return {
      message: 'Workspace agent not authorized.',
      detail:
        'The agent cannot authenticate until the workspace provision job has been completed. If the job is no longer running, this agent is invalid.',
    };
  }
  return undefined;
}
