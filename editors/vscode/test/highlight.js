// Tokenizes KRL files with syntaxes/krl.tmLanguage.json the way VS Code
// does (vscode-textmate over the Oniguruma WebAssembly build) and fails
// when a file has text no rule of the grammar scoped (only `source.krl`)
// or ends inside an open region (a string, comment, chevron or `#{...}`
// the grammar never closed).
//
//   cd editors/vscode/test && npm install && node highlight.js [FILE|DIR...]
//
// Without arguments: the golden corpus (grammar/cases, grammar/cases/ok),
// rulesets/ and engine/lang/tests/fixtures of the repository.
'use strict';
const fs = require('fs');
const path = require('path');
const vsctm = require('vscode-textmate');
const oniguruma = require('vscode-oniguruma');

const root = path.resolve(__dirname, '../../..');
const grammarPath = path.resolve(__dirname, '../syntaxes/krl.tmLanguage.json');

function krlFiles(p) {
  if (fs.statSync(p).isDirectory()) {
    return fs.readdirSync(p).sort()
      .map((f) => path.join(p, f))
      .filter((f) => f.endsWith('.krl') && fs.statSync(f).isFile());
  }
  return [p];
}

async function main() {
  const wasm = fs.readFileSync(require.resolve('vscode-oniguruma/release/onig.wasm'));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (s) => new oniguruma.OnigScanner(s),
      createOnigString: (s) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async (scope) => scope === 'source.krl'
      ? vsctm.parseRawGrammar(fs.readFileSync(grammarPath, 'utf8'), grammarPath)
      : null,
  });
  const grammar = await registry.loadGrammar('source.krl');
  const args = process.argv.slice(2);
  const targets = args.length ? args : [
    'grammar/cases', 'grammar/cases/ok', 'rulesets', 'engine/lang/tests/fixtures',
  ].map((d) => path.join(root, d));
  const files = targets.flatMap(krlFiles);
  let bad = 0;
  let tokens = 0;
  for (const file of files) {
    const lines = fs.readFileSync(file, 'utf8').split(/\r?\n/);
    let stack = vsctm.INITIAL;
    const problems = [];
    lines.forEach((line, i) => {
      const r = grammar.tokenizeLine(line, stack);
      for (const t of r.tokens) {
        tokens++;
        const text = line.slice(t.startIndex, t.endIndex);
        if (t.scopes.length < 2 && text.trim() !== '') {
          problems.push(`${i + 1}:${t.startIndex + 1}: not highlighted: ${JSON.stringify(text)}`);
        }
      }
      stack = r.ruleStack;
    });
    // INITIAL, and the state after a line that closed everything, is depth 1
    if (stack.depth > 1) {
      problems.push(`ends inside an open region: ${stack.contentNameScopesList.getScopeNames().join(' ')}`);
    }
    if (problems.length) {
      bad++;
      console.log(`${path.relative(root, file)}:\n  ${problems.slice(0, 5).join('\n  ')}`);
    }
  }
  console.log(`${files.length} files, ${tokens} tokens, ${bad} with unscoped text or an open region`);
  process.exit(bad ? 1 : 0);
}

main().catch((e) => { console.error(e); process.exit(2); });
