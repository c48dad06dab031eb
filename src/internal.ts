// Internals for leaderlink's own tests (fixtures that run as plain Node processes), built as
// dist/internal.cjs. Not part of the package: package.json `files` leaves it out.
export { loadSecretFile, resolveSecret } from './auth/secret.js';
export { Connection } from './transport/connection.js';
