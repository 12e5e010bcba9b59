// The FHIR MCP server (docs/agents.md): MCP Streamable HTTP at agents.mcp.path, tools over the gateway.
export { registerMcpServer, type McpServer } from './server.js';
export { SUPPORTED_PROTOCOL_VERSIONS, LATEST_PROTOCOL_VERSION } from './protocol.js';
export { TOOLS } from './tools.js';
