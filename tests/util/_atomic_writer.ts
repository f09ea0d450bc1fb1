// Test helper: rewrites the file named by the first argument forever,
// alternating two large contents with writeFileAtomic, until it is killed.
import { writeFileAtomic } from "../../lib/util/atomic_file.ts";

const [path] = Deno.args;
const size = 1 << 20;
const contents = ["A", "B"].map((letter) => `${letter}:${letter.repeat(size)}\n`);
for (let i = 0;; i++) {
  await writeFileAtomic(path!, contents[i % 2]!, { mode: 0o600 });
}
