// Writes the JSON Schemas of every --json document to schemas/, generated from the zod types in
// src/cli/output-schemas.ts (run after a build: npm run schemas). A test checks they match.
import { writeFileSync } from "node:fs";
import { jsonSchemaText, OUTPUT_SCHEMAS } from "../dist/cli/output-schemas.js";

for (const name of Object.keys(OUTPUT_SCHEMAS)) {
  const path = new URL(`../schemas/${name}`, import.meta.url);
  writeFileSync(path, jsonSchemaText(name));
  console.log(`schemas/${name}`);
}
