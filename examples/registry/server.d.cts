import { EventEmitter } from 'node:events';

export interface RegistryStats {
  connections: number;
  totalConnections: number;
  latest: Record<string, unknown>;
  published: Record<string, unknown[]>;
}

/** The embedded upstream registry of the demo and the tests (see server.cjs). */
export declare class RegistryServer extends EventEmitter {
  readonly port: number;
  readonly connections: number;
  readonly totalConnections: number;
  readonly published: Map<string, Set<string>>;
  readonly latest: Map<string, unknown>;
  setValue(dataId: string, value: unknown): void;
  close(): Promise<void>;
  stats(): RegistryStats;
}

export declare function createRegistryServer(options?: { port?: number; host?: string }): Promise<RegistryServer>;
