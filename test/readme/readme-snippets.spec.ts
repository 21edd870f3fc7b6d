import { readdirSync, readFileSync } from 'node:fs';

/**
 * Every ```ts block of the README must appear, line for line (indentation aside), in a file under
 * docs/examples/, which `npm test` type-checks: so every snippet a reader copies compiles.
 */
const root = new URL('../../', import.meta.url);
const normalise = (text: string) =>
  text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0);

const readme = readFileSync(new URL('README.md', root), 'utf8');
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => normalise(m[1]));
const examplesDir = new URL('docs/examples/', root);
const examples = readdirSync(examplesDir)
  .filter((f) => f.endsWith('.ts'))
  .map((f) => ({ file: f, lines: normalise(readFileSync(new URL(f, examplesDir), 'utf8')) }));

function containsRun(haystack: string[], needle: string[]): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

it('the README has TypeScript snippets to check', () => {
  expect(blocks.length).toBeGreaterThanOrEqual(9);
});

it.each(blocks.map((lines) => [lines[0], lines]))('README snippet starting %p is in a type-checked example', (_first, lines) => {
  expect(examples.filter((e) => containsRun(e.lines, lines as string[])).map((e) => e.file)).not.toEqual([]);
});
