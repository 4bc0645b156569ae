// The KRL extension's client: starts `krl lsp` (the command in the
// `krl.path` setting) over stdio for .krl files. Everything else (the
// diagnostics, hover, definitions, completion, formatting) is the
// server's; the highlighting is syntaxes/krl.tmLanguage.json.
'use strict';
const vscode = require('vscode');
const { LanguageClient, TransportKind } = require('vscode-languageclient/node');

let client;

function activate(context) {
  const command = vscode.workspace.getConfiguration('krl').get('path') || 'krl';
  const server = { command, args: ['lsp'], transport: TransportKind.stdio };
  client = new LanguageClient(
    'krl',
    'krl lsp',
    { run: server, debug: server },
    { documentSelector: [{ scheme: 'file', language: 'krl' }] },
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
