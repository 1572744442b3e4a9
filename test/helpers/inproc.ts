import { PassThrough } from 'node:stream';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node.js';
import { createBroker, type Broker } from '../../src/broker.js';
import { BrokerClient } from '../../src/client/index.js';
import { makeConfig, type ConfigInput } from '../../src/config.js';
import { silentLogger } from '../../src/log.js';
import type { InitializeParams, InitializeResult } from '../../src/protocol/lifecycle.js';
import { connectStreams } from '../../src/rpc/stdio.js';
import { serve } from '../../src/rpc/server.js';

export interface InProcess {
  readonly client: BrokerClient;
  readonly broker: Broker;
  /** Exit codes the server asked for (exit notification or end of input). */
  readonly exits: number[];
  /** Ends the client→broker stream, as a client closing stdin would. */
  endInput(): void;
  dispose(): Promise<void>;
}

/**
 * A real broker (real sandboxes) and a real client, joined by in-memory streams: the dispatch code is
 * exactly what `pycell serve` runs, without a Node process per test.
 */
export async function startInProcess(config: ConfigInput = {}, initialize: InitializeParams = { clientInfo: { name: 'test' } }): Promise<InProcess> {
  const broker = await createBroker(makeConfig({ poolSize: 2, logLevel: 'silent', ...config }), silentLogger);
  const toBroker = new PassThrough();
  const toClient = new PassThrough();
  const exits: number[] = [];
  const server = connectStreams(toBroker, toClient);
  serve(server, broker, silentLogger, (code) => exits.push(code));
  server.listen();
  const connection = createMessageConnection(new StreamMessageReader(toClient), new StreamMessageWriter(toBroker));
  connection.listen();
  const result = await connection.sendRequest<InitializeResult>('initialize', initialize);
  const client = new BrokerClient(connection, result);
  return {
    client,
    broker,
    exits,
    endInput: () => toBroker.end(),
    async dispose() {
      await broker.close();
      connection.dispose();
      server.dispose();
    },
  };
}
