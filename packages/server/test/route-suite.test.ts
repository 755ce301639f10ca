import { describe } from 'vitest';
import { runRouteSuite } from './route-suite.ts';

describe('the auth suite of every /v1 route', () => {
  runRouteSuite();
});
