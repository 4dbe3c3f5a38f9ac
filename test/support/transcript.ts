// Realistic conversations built from real agent screens (reference/agent-screens.json):
// box drawing, CJK, emoji and long terminal lines, so byte counts differ from character counts.

import screensFile from '../fixtures/agent-screens.json' with { type: 'json' };

export interface Message {
  id: number;
  content: string;
  role: 'user' | 'agent';
  time: string;
}

export const SCREENS: readonly { agent: string; case: string; user: string; content: string }[] =
  screensFile.screens;

const START = Date.parse('2026-01-01T00:00:00Z');

/** `count` messages alternating agent/user, agent first (message 0 is the agent's first screen). */
export function conversation(count: number, offset = 0): Message[] {
  const out: Message[] = [];
  for (let i = 0; i < count; i++) out.push(messageAt(i + offset));
  return out;
}

export function messageAt(id: number): Message {
  const screen = SCREENS[id % SCREENS.length];
  const role = id % 2 === 0 ? 'agent' : 'user';
  const content = role === 'agent' ? screen.content : screen.user || `please continue (${id})`;
  return { id, content, role, time: new Date(START + id * 1000).toISOString() };
}

/** Messages until the serialized /messages body reaches about `bytes`. */
export function conversationOfBytes(bytes: number): Message[] {
  const out: Message[] = [];
  let total = 0;
  for (let id = 0; total < bytes; id++) {
    const m = messageAt(id);
    out.push(m);
    total += Buffer.byteLength(JSON.stringify(m)) + 1;
  }
  return out;
}
