export function init(_dir: string): { lines: string[] } {
  throw new Error("init: not built yet");
}
