package main

// Every sentence that names a CLI flag, a config key, a command or an exit
// code lives in this file (as age keeps its in cmd/age/tui.go). The
// libraries report facts — an AADSTS code, an HTTP status, a Graph error
// code, an SMTP reply — and this file turns them into the next step for a
// person.

import (
	"errors"
	"net/http"
	"strings"

	"github.com/graphmail/graphmail/config"
	"github.com/graphmail/graphmail/graphmail"
	"github.com/graphmail/graphmail/graphmail/auth"
	"github.com/graphmail/graphmail/graphmail/sendmailcompat"
	"github.com/graphmail/graphmail/smtpfallback"
)

// hinter is implemented by errors that know the next step for a person
// without naming anything of the CLI (tokencache's "chmod 700 …").
type hinter interface{ Hint() string }

// hintsFor collects the hints for every error in err's chain, first
// first. command is the command that failed, for the usage hint.
func hintsFor(err error, command string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(h string) {
		if h != "" && !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	var ie *inputError
	if errors.As(err, &ie) {
		add(ie.hint)
	}
	var uc *unknownCommandError
	if errors.As(err, &uc) && len(uc.suggestions) > 0 {
		add("did you mean '" + strings.Join(uc.suggestions, "' or '") + "'?")
	}
	if graphmail.ClassOf(err) == graphmail.Usage {
		if command == "" {
			command = "graphmail"
		}
		add("run '" + command + " --help' for usage and examples")
	}
	var c1 *config.Error
	if errors.As(err, &c1) {
		add(c1.Hint)
	}
	var ae *auth.Error
	if errors.As(err, &ae) {
		add(authHint(ae))
	}
	var tl *graphmail.TooLargeError
	if errors.As(err, &tl) {
		add(tooLargeHint(tl))
	}
	var ue *graphmail.UploadError
	if errors.As(err, &ue) {
		add(uploadHint(ue))
	}
	var ge *graphmail.GraphError
	if errors.As(err, &ge) {
		add(graphHint(ge))
	}
	var ur *sendmailcompat.UnknownRecipientError
	if errors.As(err, &ur) {
		add(unknownRecipientHint(ur))
	}
	add(smtpHint(err))
	var h hinter
	if errors.As(err, &h) {
		add(h.Hint())
	}
	return out
}

// authHint is the next step after a failed token request.
func authHint(e *auth.Error) string {
	var fe *auth.FederatedTokenError
	if errors.As(e.Err, &fe) {
		return "the file is written by the platform (the AKS workload identity webhook, a CI job's OIDC step); check that it is mounted at federated_token_file and kept fresh, or set auth.method to another credential"
	}
	var ns *auth.NotSignedInError
	if errors.As(e.Err, &ns) {
		if ns.User == "" && len(ns.Cached) > 1 {
			return "set delegated.user to the account to use, or run 'graphmail logout' and sign in again"
		}
		return "run 'graphmail login' first (device code; add --browser to sign in with a local browser)"
	}
	if h := methodAADSTSHints[e.Method][e.Code]; h != "" {
		return h
	}
	if e.Method == auth.MethodManagedIdentity && e.StatusCode >= 400 && e.StatusCode < 500 {
		if e.UserAssigned {
			return "no managed identity with managed_identity_client_id is assigned to this resource; check the client ID (not the object ID) of the user-assigned identity and that it is added under the resource's Identity page"
		}
		return "this resource has no system-assigned managed identity; turn it on under the resource's Identity page, or set managed_identity_client_id to a user-assigned identity's client ID"
	}
	if h := aadstsHints[e.Code]; h != "" {
		return h
	}
	if e.Code == "" {
		if h := oauthHints[e.OAuthError]; h != "" {
			return h
		}
	}
	if e.Code == "" && e.Temporary() {
		return "the identity platform could not be reached; check the network, proxy and authority_host, then try again"
	}
	return ""
}

// aadstsHints are the next steps for the identity platform's codes.
var aadstsHints = map[string]string{
	"AADSTS7000215": "the client secret is wrong; copy the secret's Value (not its Secret ID) from the app registration's Certificates & secrets page into client_secret",
	"AADSTS7000222": "the client secret has expired; create a new one under Certificates & secrets and update client_secret",
	"AADSTS700016":  "check client_id (the Application (client) ID on the app registration's Overview page) and that the app belongs to tenant_id",
	"AADSTS90002":   "check tenant_id (the Directory (tenant) ID) and cloud: a national-cloud tenant needs cloud: usgov, usgovdod or china",
	"AADSTS700027":  "the certificate is not registered on the app, or its key does not match; upload the certificate's public part under Certificates & secrets",
	"AADSTS50049":   "check authority_host and cloud",
	"AADSTS700022":  "request one resource's /.default scope at a time",
	"AADSTS1002012": "use a scope ending in /.default for app-only tokens",
	"AADSTS7000112": "the application is disabled in the tenant; ask an administrator to enable it (Enterprise applications → Properties)",
	"AADSTS900382":  "the tenant is in another cloud; set cloud to match it",
	"AADSTS900023":  "tenant_id must be the Directory (tenant) ID GUID or a verified domain name",
}

// reLogin is the hint for a delegated sign-in that cannot be refreshed.
const reLogin = "the sign-in has expired or was revoked; run 'graphmail login' again"

// methodAADSTSHints override aadstsHints for one credential method.
var methodAADSTSHints = map[auth.Method]map[string]string{
	auth.MethodWorkloadIdentity: {
		"AADSTS700024": "the federated token in federated_token_file has expired; check that the platform (AKS workload identity, the CI job's OIDC step) keeps rewriting the file",
		"AADSTS70021":  "no federated credential of the app matches the token's issuer, subject and audience (api://AzureADTokenExchange); add one under Certificates & secrets → Federated credentials",
		"AADSTS700027": "the federated token's signature is not valid for its issuer; check the issuer URL of the federated credential",
		"AADSTS700211": "no federated credential of the app has the token's issuer; add one under Certificates & secrets → Federated credentials",
	},
	auth.MethodDelegated: {
		"AADSTS700082":  reLogin + " (the refresh token expired: unused for 90 days)",
		"AADSTS65001":   reLogin + " and consent to Mail.Send (consent was revoked or never given)",
		"AADSTS50076":   reLogin + " interactively to complete multi-factor authentication",
		"AADSTS50078":   reLogin + " interactively to complete multi-factor authentication",
		"AADSTS53003":   reLogin + " from a device and location that Conditional Access allows",
		"AADSTS50173":   reLogin + " (the password was changed or sessions were revoked)",
		"AADSTS70000":   reLogin,
		"AADSTS70008":   reLogin,
		"invalid_grant": reLogin,
		"AADSTS7000218": "the app registration does not allow public client flows; turn on Authentication → Allow public client flows",
		"AADSTS50011":   "add http://localhost as a redirect URI of the Mobile and desktop applications platform under Authentication",
	},
}

// oauthHints are the next steps for RFC 6749 errors from an authority that
// sends no AADSTS code (AD FS, a proxy, a test identity provider).
var oauthHints = map[string]string{
	"invalid_client":      "the authority did not accept the client: check client_id and the credential (client_secret, client_certificate), and that authority_host and tenant_id name the right authority",
	"unauthorized_client": "the client may not use the client-credentials grant at this authority; allow it for the app, or check client_id",
	"invalid_scope":       "the authority refused the scope; check graph_scope and smtp.scope (they must end in /.default for app-only tokens)",
	"invalid_grant":       "the authority refused the grant; check the credential and that the client's clock is right",
	"invalid_request":     "the authority refused the request as malformed; check authority_host, tenant_id and client_id",
}

// graphHint is the next step after a failed Graph request.
func graphHint(e *graphmail.GraphError) string {
	switch {
	case e.Code == "ErrorSendAsDenied":
		return "the sender mailbox may not send as this message's From; give it Send As permission on that address (Add-RecipientPermission), or send with the sender mailbox as From"
	case e.StatusCode == http.StatusUnauthorized:
		return "Graph rejected the access token; check that tenant_id, client_id and cloud/graph_endpoint belong to the same cloud, and that the token is for the Graph resource"
	case e.StatusCode == http.StatusForbidden:
		return "grant the Mail.Send application permission with admin consent (Entra ID → App registrations → API permissions), and check that no application access policy or RBAC for Applications scope excludes the sender mailbox; changes take up to 30 minutes"
	case e.Code == "MailboxNotEnabledForRESTAPI":
		return "the sender mailbox cannot be used through Graph: it must be an Exchange Online mailbox with a license (not on-premises, not inactive); check sender"
	case e.MailboxProblem():
		return "the sender mailbox does not exist in this tenant; set sender to the UPN or primary SMTP address of an Exchange Online mailbox"
	case e.Code == "ErrorInvalidRecipients":
		return "check the recipient addresses"
	case e.TooLarge():
		return "the message is over Graph's 4 MB request limit; use the SMTP fallback (smtp.fallback: auto) or send smaller attachments"
	case e.StatusCode == http.StatusTooManyRequests:
		return "Graph is throttling this mailbox; try again later or lower the sending rate"
	case e.StatusCode == 0 || e.StatusCode >= 500:
		return "Microsoft Graph could not be reached or failed; try again later (exit code 75 tells scripts and MTAs to retry; the sendmail drop-in queues the message instead)"
	}
	return ""
}

// tooLargeHint names the ways to send a message no path could take.
func tooLargeHint(e *graphmail.TooLargeError) string {
	if e.UploadSession {
		return "an upload session takes attachments of up to 150 MB; split the file or share a link to it instead"
	}
	return "set large_messages: upload_session (needs the Mail.ReadWrite application permission) to upload large attachments through Graph, " +
		"or let the SMTP fallback carry it (smtp.fallback: auto, up to smtp.max_message_size, default 35MB)"
}

// uploadHint explains the permission the upload session path needs.
func uploadHint(e *graphmail.UploadError) string {
	var ge *graphmail.GraphError
	if errors.As(e.Err, &ge) && ge.StatusCode == http.StatusForbidden {
		return "large_messages: upload_session needs the Mail.ReadWrite application permission (with admin consent) besides Mail.Send; grant it, or unset large_messages so large messages go to the SMTP fallback"
	}
	return ""
}

// smtpHint gives the next step for an SMTP failure, or "".
func smtpHint(err error) string {
	var se *smtpfallback.SMTPError
	if !errors.As(err, &se) {
		return ""
	}
	switch {
	case se.AuthDisabled():
		return "SMTP AUTH is disabled for the tenant or mailbox; enable it (Set-TransportConfig -SmtpClientAuthenticationDisabled $false, or Set-CASMailbox <sender> -SmtpClientAuthenticationDisabled $false) or use --via graph"
	case se.AuthFailure():
		return "Exchange rejected the token for SMTP; grant the SMTP.SendAsApp permission with admin consent, register the app's service principal in Exchange (New-ServicePrincipal) and give it access to the sender mailbox (Add-MailboxPermission -AccessRights FullAccess)"
	case se.Code == 432:
		return "too many concurrent SMTP connections for this mailbox (Exchange allows 3); try again later"
	case se.Temporary():
		return "the SMTP server asked to try again later"
	}
	return ""
}

// unknownRecipientHint says how to give a local name a mailbox.
func unknownRecipientHint(e *sendmailcompat.UnknownRecipientError) string {
	name := e.Name
	if name == "" {
		name = e.Address
	}
	return "local names (root, www-data, user@localhost) need an entry in the aliases file named by the aliases key, e.g. '" + name +
		": you@contoso.com', or a 'default: you@contoso.com' catch-all; /etc/aliases can be reused"
}
