#!/usr/bin/env bun
// `bunx s3-bun-cached-fs <command>`: the command-line tool (js/cli). See docs/cli.md or --help.
import { main } from "../js/cli/main.ts";

process.exit(await main(process.argv.slice(2)));
