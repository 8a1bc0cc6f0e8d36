// Runs before `npm run demo` and `npm test` (npm's pre-scripts): on a fresh checkout, installs the locked
// dependencies first, so that the README's two quick-start commands work alone. Plain Node: tsx and the
// rest are what it installs.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

if (!existsSync(new URL('../node_modules/.bin/tsx', import.meta.url))) {
  process.stdout.write('node_modules is missing: running npm ci\n');
  execFileSync('npm', ['ci'], { stdio: 'inherit', cwd: new URL('..', import.meta.url) });
}
