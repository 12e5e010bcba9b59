// The console's sections after the overview, each one module registering its pages and actions.
// The rules each page applies live in src/admin/*.ts, shared with the admin API and the CLI.
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../../context/app-context.js';
import type { AdminConsoleOptions } from './services.js';

export type ConsoleSection = (app: FastifyInstance, ctx: AppContext, options: AdminConsoleOptions) => void;

export const CONSOLE_SECTIONS: readonly ConsoleSection[] = [];
