import { Command } from "commander";

const program = new Command("clawkeep").version("0.1.0");
await program.parseAsync(process.argv);
