// Package auth acquires app-only OAuth2 access tokens for graphmail with the
// Microsoft Authentication Library (MSAL Go) client-credentials flow.
//
// # One client, every scope
//
// A [Provider] wraps exactly one MSAL confidential client per (authority,
// tenant, client). It serves any resource's "/.default" scope: the Graph
// sender asks for https://graph.microsoft.com/.default and the SMTP fallback
// for https://outlook.office365.com/.default. Each consumer sees it through a
// small view bound to one scope ([Provider.Source], [Provider.TokenCredential]).
//
// # Credentials
//
// Options name exactly one credential, reported by [Provider.Method]: a
// client secret, a certificate, a federated token file (workload identity
// federation: the file is re-read through MSAL's assertion callback
// whenever a token must be requested, so rotation needs no restart), or a
// [ManagedIdentity] (MSAL's managedidentity package, endpoint discovered
// from the environment). The persistent cache (Options.Cache) applies to
// the confidential-client methods; callers give it to secrets and
// certificates only, since its key is derived from the credential.
//
// # Rotation and expiry
//
// With Options.Files the client secrets or certificates are read from
// files, one or two (the overlap window of a rotation): they are tried in
// order, and the one that worked last is tried first. The provider reads
// the files again on [Provider.ReloadCredentials] (a cheap poll compares
// modification time and size, then the content), when a reloaded
// configuration names other files ([Provider.SetCredentialFiles]), and
// once whenever the identity platform refuses every credential it holds
// (invalid_client, AADSTS7000215, AADSTS7000222, AADSTS700027). A changed
// credential gets a new MSAL client with its own cache
// (Options.CacheFor), and [Provider.CredentialChanged] tells the caller.
// A file that cannot be used keeps the running credentials.
//
// [Provider.Credentials] describes each credential without its secret
// (kind, thumbprint or file name, expiry and where the expiry comes from:
// a certificate's NotAfter, Options.SecretExpires, or the app
// registration's endDateTime read by [FetchRegistration], which needs the
// optional Application.Read.All permission).
//
// # Caching and refresh
//
// MSAL's in-memory cache answers repeated calls; a token counts as expired
// five minutes before it really expires, so a token is always renewed ahead
// of time, and when the authority sends refresh_in MSAL renews it earlier
// still. Concurrent callers asking for the same scope share one in-flight
// token request. Tokens are kept in memory only.
//
// # Reading a token's claims
//
// [DecodeClaims] reads the claims of a JWT without verifying its
// signature: to show who a token is for and what it grants, or when a
// federated token expires. It is never a trust decision.
//
// # Errors
//
// Failures come back as *[Error], which carries the AADSTS code the identity
// platform returned, the HTTP status, a class (temporary or not) and a hint
// for people. The error text never contains the client secret, the
// certificate key or a token.
package auth
