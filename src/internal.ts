// Internals for leaderlink's own tests (fixtures that run as plain Node processes), built as
// dist/internal.cjs. Not part of the package's public exports.
export { loadSecretFile, resolveSecret } from './auth/secret.js';
export { Connection } from './transport/connection.js';
