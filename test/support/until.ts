// The one polling helper of the tests: waits for a condition on real components (servers,
// informers) that give no event to await. Never used to prove that something did not happen.
export async function until(
  what: string,
  cond: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
  everyMs = 20,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
