import * as api from '../dist/index.js';

declare const leaderlink: typeof api.cluster & typeof api & { default: typeof api.cluster };
export = leaderlink;
