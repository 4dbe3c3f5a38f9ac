// Text from elsewhere (a record someone may have planted, a server's answer, an agent's screen),
// made safe to print on one line of a terminal: escape codes and line breaks shown, not obeyed.

/** C0 controls but tab, DEL, and the C1 controls (U+009B is a CSI to some terminals). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is what it is for
const CONTROLS = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/g;

/** `text` with every control character but tab written as an escape (`\n`, `\x1b`, `\x9b`). */
export function escapeControls(text: string): string {
  return text.replace(CONTROLS, (c) =>
    c === '\n' ? '\\n' : c === '\r' ? '\\r' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}

/** A short value to quote in a message: at most `limit` characters, printable ASCII only. */
export function printable(text: string, limit: number): string {
  const shown = text.length > limit ? `${text.slice(0, limit)}…` : text;
  return shown.replace(/[^\x20-\x7e…]/g, '?');
}
