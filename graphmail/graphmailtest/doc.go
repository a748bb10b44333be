// Package graphmailtest runs a fake Microsoft 365 tenant on the local
// machine: an Entra ID (v2.0) login host and a Microsoft Graph host, each
// on its own TLS listener with a certificate from a CA generated per
// server. Library users point MSAL and the Graph SDK at it in their own
// tests; the graphmail sandbox command serves it for trying things out.
// It has no dependency on package graphmail.
//
// # Starting a tenant
//
//	srv, err := graphmailtest.NewServer(graphmailtest.Options{})
//	…
//	defer srv.Close()
//	app := srv.App() // ClientID and generated Secret
//	// authority: srv.AuthorityHost()+"/"+srv.TenantID() (or the tenant domain)
//	// Graph base URL: srv.GraphEndpoint()+"/v1.0"
//	// HTTP client trusting the CA: srv.HTTPClient()
//
// With MSAL Go pass confidential.WithHTTPClient(srv.HTTPClient()) and
// confidential.WithInstanceDiscovery(false); otherwise MSAL asks
// login.microsoftonline.com to validate the authority.
//
// # Login host
//
// GET /{tenant}/v2.0/.well-known/openid-configuration and
// /{tenant}/discovery/v2.0/keys describe the tenant; {tenant} is the
// tenant ID or domain, in any case. POST /{tenant}/oauth2/v2.0/token
// implements the client-credentials grant with a client secret or a
// client assertion (a JWT signed with PS256 or RS256 by the key of a
// certificate registered on the app, named by its x5t#S256 or x5t
// header, aud the token endpoint, iss and sub the client ID, with a jti
// and a valid time range). The scope must name exactly one resource with
// "/.default": Graph or Exchange Online (outlook.office365.com); MSAL's
// "openid offline_access profile" are ignored. Refusals carry Entra ID's
// AADSTS codes and JSON shape: 90002 unknown tenant, 700016 unknown
// client, 7000215 wrong or removed secret, 7000222 expired secret (App.Secrets
// carry end dates; AddSecret and RemoveSecret rotate them), 700027
// unregistered, expired or removed certificate or bad signature, 700024
// assertion expired, 50012 wrong assertion audience,
// 1002012 scope without /.default, 700022 several resources, 500011
// unknown resource.
//
// Workload identity federation: AddFederation registers a federated
// identity credential (issuer, subject, audience api://AzureADTokenExchange)
// on an app and a signing key for the issuer; MintFederatedToken signs
// tokens as that issuer. A client assertion whose iss is not the client ID
// and that names no certificate is checked as a federated token: 700024
// when expired, 70021 when no federated credential matches.
//
// Managed identity: AssignManagedIdentity gives the fake compute resource
// a system- or user-assigned identity; ManagedIdentityEnv returns the
// IDENTITY_ENDPOINT and IDENTITY_HEADER that point MSAL (and azidentity)
// at GET /msi/token on the login host, App Service style. A request for no
// assigned identity, or for a client_id not assigned, gets 400
// "Identity not found".
//
// GET /v1.0/applications(appId='{client_id}') on the Graph host returns
// the app's passwordCredentials (hint, endDateTime) and keyCredentials
// (customKeyIdentifier, the SHA-1 thumbprint; endDateTime) for a token
// carrying one of RegistrationReadRoles, and 403
// Authorization_RequestDenied otherwise.
//
// Access tokens are RS256 v1.0 tokens (aud, iss https://sts.windows.net/{tid}/,
// appid, azp, tid, oid, roles, idtyp "app"). Graph tokens carry the app's
// roles other than Exchange ones; Outlook tokens carry the Exchange
// permissions (SMTP.SendAsApp, full_access_as_app, …), as in Entra ID.
// Responses give expires_in one second under Options.TokenLifetime, and
// refresh_in only as Options.RefreshIn says. ParseToken verifies a token,
// for a fake SMTP server checking XOAUTH2.
//
// # Graph host
//
// POST /v1.0/users/{id}/sendMail checks, in Graph's order: the bearer
// token (401 InvalidAuthenticationToken), the Mail.Send role (403
// ErrorAccessDenied), the mailbox (404 ErrorInvalidUser, or
// MailboxNotEnabledForRESTAPI after SetMailboxRESTDisabled), then the
// body. Gzip request bodies are decoded; bodies over 4 MB get 413. An
// application/json body is validated strictly (unknown properties give
// 400 RequestBodyRead, bad or missing recipients 400
// ErrorInvalidRecipients, header names without "x-" 400
// InvalidInternetMessageHeader, bad base64 400 RequestBodyRead, a from
// address other than the mailbox 403 ErrorSendAsDenied unless
// GrantSendAs). A text/plain body is base64 MIME (bad base64 gives 400
// ErrorMimeContentInvalidBase64String). Accepted messages get 202 and
// appear in Messages and, with Options.Dir, as files.
//
// Large messages take Graph's draft path, which needs the Mail.ReadWrite
// role: POST /v1.0/users/{id}/messages creates a draft (201 with its id),
// …/messages/{mid}/attachments adds a fileAttachment whole,
// …/attachments/createUploadSession returns an uploadUrl (on the same host,
// outside /v1.0, authorised by its own authtoken parameter; a request
// carrying Authorization is refused), …/messages/{mid}/send delivers the
// draft (Transport TransportGraphDraft) and DELETE …/messages/{mid} deletes
// it. The upload URL takes PUTs with "Content-Range: bytes start-end/size":
// at most 4 MB each, every chunk but the last a multiple of 320 KiB, the
// next expected byte or 416; 200 with nextExpectedRanges, 201 when
// complete; GET reports nextExpectedRanges. Chunks must not be compressed.
//
// Every request of the API gzip-decodes its body, as Graph does. More than
// Options.MailboxConcurrency (4) requests in flight for one mailbox get 429
// ApplicationThrottled ("MailboxConcurrency"); MaxInFlight reports the
// most seen, MaxPerWindow the most messages that arrived in any sliding
// window, SetLatency and HoldGraph make requests overlap, GraphRequests
// counts them.
//
// # Injecting failures
//
// Fail queues errors (429 with Retry-After, 503, AADSTS7000222, slow
// responses, dropped connections, failed upload chunks) that the next
// matching requests get before any other check.
package graphmailtest
