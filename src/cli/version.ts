import { readFileSync } from 'node:fs';
import type { Command } from './io.ts';

export const VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export const versionCommand: Command = {
  name: 'version',
  summary: 'print the version',
  run(io) {
    io.stdout.write(`skiff ${VERSION} (node ${process.version})\n`);
    return Promise.resolve(0);
  },
};
