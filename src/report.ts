export async function writeReport(_ws: string): Promise<{ markdown: string; svg: string }> {
  throw new Error("report: not built yet");
}
