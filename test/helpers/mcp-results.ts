/** The text of a tool result's first content item ('' when it has none). */
export const text = (r: object): string => ((r as { content?: Array<{ text?: string }> }).content ?? [])[0]?.text ?? '';

/** Polls every 25 ms (at most 5 s) until cond holds; throws naming `what` otherwise. */
export async function until(cond: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}
