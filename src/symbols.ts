/**
 * Internal entry points of the wrapper. Delegated methods call these; they are symbols so they
 * never clash with the data client's own method names. `Symbol.for('ClusterClient#...')` keeps
 * cluster-client's spelling so code that reached for those symbols still works.
 */
export const kSubscribe = Symbol.for('ClusterClient#subscribe');
export const kUnSubscribe = Symbol.for('ClusterClient#unSubscribe');
export const kPublish = Symbol.for('ClusterClient#publish');
export const kInvoke = Symbol.for('ClusterClient#invoke');
export const kClose = Symbol.for('ClusterClient#close');
