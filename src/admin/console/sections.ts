// The console's sections after the overview, each one module registering its pages and actions.
// The rules each page applies live in src/admin/*.ts, shared with the admin API and the CLI.
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../../context/app-context.js';
import type { AdminConsoleOptions } from './services.js';
import { registerGrantsSection } from './grants.js';
import { registerUsersSection } from './users.js';
import { registerAgentPages } from './agents.js';
import { registerClientPages } from './clients.js';
import { registerAuditSection } from './audit.js';
import { registerBreakGlassSection } from './breakglass.js';
import { registerReportSection } from './report.js';

export type ConsoleSection = (app: FastifyInstance, ctx: AppContext, options: AdminConsoleOptions) => void;

export const CONSOLE_SECTIONS: readonly ConsoleSection[] = [registerUsersSection,
  registerGrantsSection, registerClientPages, registerAgentPages,
  registerAuditSection, registerBreakGlassSection, registerReportSection];
