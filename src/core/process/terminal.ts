// Whether a file descriptor is a terminal, without what answering it usually loads: node:tty takes
// about 4 ms to load, and process.stdin or process.stdout about 10 ms and a few MiB (measured in
// the compiled binary). Bun keeps Node's tty binding for compatibility, which answers at no cost.

/** true or false from the tty binding; undefined if a Bun release no longer has it. */
export function isTerminal(fd: number): boolean | undefined {
  try {
    const binding = (process as unknown as { binding(name: string): { isTTY(fd: number): boolean } }).binding;
    return binding('tty_wrap').isTTY(fd);
  } catch {
    return undefined;
  }
}
