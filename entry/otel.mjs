// ESM entry of leaderlink/otel: the names of the CommonJS build (Node reads otel.cjs's require as a re-export).
export * from './otel.cjs';
