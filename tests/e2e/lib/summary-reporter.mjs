// A node:test reporter that adds one cargo-style line at the end,
// `test result: ok. N passed; M failed; K skipped`, because pkg-scripts/test.sh counts every
// suite's tests from such lines (the spec reporter beside it prints the details).
export default async function* summary(source) {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  for await (const event of source) {
    // Suites (describe) report too; count only the tests themselves.
    if (event.data?.details?.type === "suite") continue;
    if (event.type === "test:pass") {
      if (event.data.skip || event.data.todo) skipped++;
      else passed++;
    } else if (event.type === "test:fail") {
      failed++;
    }
  }
  const verdict = failed === 0 ? "ok" : "FAILED";
  yield `\ntest result: ${verdict}. ${passed} passed; ${failed} failed; ${skipped} skipped\n`;
}
