export * from '../dist/index.js';
import { cluster } from '../dist/index.js';
export default cluster;
