#!/usr/bin/env node
// npm run lab:up|down|status — loads the TypeScript lab CLI through tsx (no build step).
import { register } from 'tsx/esm/api'
register()
await import('../src/lab/cli.ts')
