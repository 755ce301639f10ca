import { describe } from 'vitest';
import { runConsoleMatrix } from './console-matrix.ts';

describe('every /console/api route against each role, another organization, and no session', () => {
  runConsoleMatrix();
});
