// Minify src/intent.js into the file the collector serves (../collector/static/intent.js).
// `npm test` rebuilds in memory with the same function and fails if the committed file differs.
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { minify } from "terser";

export const SOURCE = fileURLToPath(new URL("../src/intent.js", import.meta.url));
export const OUTPUT = fileURLToPath(new URL("../../collector/static/intent.js", import.meta.url));

export async function build() {
  const source = await readFile(SOURCE, "utf8");
  const result = await minify(source, {
    ecma: 2020,
    compress: { passes: 3 },
    mangle: true,
    format: { comments: false },
  });
  return result.code;
}

export const gzipSize = (code) => gzipSync(Buffer.from(code), { level: 9 }).length;

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const code = await build();
  await writeFile(OUTPUT, code);
  console.log(`wrote ${OUTPUT}: ${Buffer.byteLength(code)} bytes, ${gzipSize(code)} gzipped (level 9)`);
}
