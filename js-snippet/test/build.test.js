// The committed build is what `npm run build` makes from src, and it stays within its byte budget.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import vm from "node:vm";
import { OUTPUT, build, gzipSize } from "../scripts/build.js";

const BUDGET = 1024; // bytes gzipped at level 9; the goal is 800
const committed = await readFile(OUTPUT, "utf8");

test("the committed collector/static/intent.js is built from src (run `npm run build`)", async () => {
  assert.equal(committed, await build(), "collector/static/intent.js is stale: cd js-snippet && npm run build");
});

test(`the snippet is at most ${BUDGET} bytes gzipped`, (t) => {
  const size = gzipSize(committed);
  const line = `intent.js: ${Buffer.byteLength(committed)} bytes minified, ${size} bytes gzipped (level 9; budget ${BUDGET}, goal 800)`;
  t.diagnostic(line);
  assert.ok(size <= BUDGET, line);
});

test("the snippet never writes cookies or storage", () => {
  for (const word of ["cookie", "setItem", "sessionStorage", "indexedDB"]) {
    assert.ok(!committed.includes(word), `the build mentions ${word}`);
  }
});

// Environments a host page can give it: no document, no current script (an inline copy or a
// module), a script with no data-site. None of them may throw.
const environments = {
  "no DOM at all": {},
  "no current script": { document: { currentScript: null }, navigator: {}, location: {} },
  "a script without data-site": {
    document: { currentScript: { dataset: {}, src: "https://c.example/js/intent.js" } },
    navigator: {},
    location: { protocol: "https:", href: "https://a.example/", pathname: "/" },
  },
};
for (const [name, globals] of Object.entries(environments)) {
  test(`it does not throw with ${name}`, () => {
    const context = vm.createContext({ ...globals, self: {}, URL });
    assert.doesNotThrow(() => vm.runInContext(committed, context));
  });
}
