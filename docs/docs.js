// The /docs page: Swagger UI on the service's own document. "Authorize" takes a
// bearer token (`recstore token --sub NAME` with the dev issuer); it is kept in the
// browser's local storage so a reload does not lose it. No validator badge: it would
// send the document to an outside host.
window.ui = SwaggerUIBundle({
  url: "/api/v1/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: true,
  displayRequestDuration: true,
  validatorUrl: null,
});
