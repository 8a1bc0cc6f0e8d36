#!/usr/bin/env node
// The package's executable: the compiled build (`npm run build` writes dist/ from src/, streams/, redis/).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/src/cli.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('tenant-proxy: dist/ is missing: run `npm run build` first (or `npm start` to run the sources through tsx)\n');
  process.exit(1);
}
await import(entry.href);
