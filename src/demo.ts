export async function runDemo(_o: { keep?: string; budgetSeconds?: number; experiments?: number }): Promise<void> {
  throw new Error("demo: not built yet");
}
