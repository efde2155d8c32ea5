import { afterAll } from 'vitest';
import { removeScratchDirs } from './support/manager.js';

// Registered before the test file's own hooks, so it runs after them: its managers are stopped first.
afterAll(removeScratchDirs);
