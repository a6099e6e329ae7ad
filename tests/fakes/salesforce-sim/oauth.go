package main

import (
	"crypto"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// loadPublicKey reads an RSA public key from PEM: PUBLIC KEY, RSA PUBLIC KEY or a
// CERTIFICATE (what is uploaded to a connected app).
func loadPublicKey(path string) (*rsa.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for {
		var blk *pem.Block
		blk, data = pem.Decode(data)
		if blk == nil {
			return nil, fmt.Errorf("%s: no RSA public key or certificate found", path)
		}
		switch blk.Type {
		case "PUBLIC KEY":
			k, err := x509.ParsePKIXPublicKey(blk.Bytes)
			if err != nil {
				return nil, err
			}
			if rk, ok := k.(*rsa.PublicKey); ok {
				return rk, nil
			}
			return nil, fmt.Errorf("%s: not an RSA key", path)
		case "RSA PUBLIC KEY":
			return x509.ParsePKCS1PublicKey(blk.Bytes)
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return nil, err
			}
			if rk, ok := c.PublicKey.(*rsa.PublicKey); ok {
				return rk, nil
			}
			return nil, fmt.Errorf("%s: certificate key is not RSA", path)
		}
	}
}

func oauthError(w http.ResponseWriter, code, desc string) {
	writeJSON(w, 400, map[string]string{"error": code, "error_description": desc})
}

type jwtClaims struct {
	Iss string          `json:"iss"`
	Sub string          `json:"sub"`
	Prn string          `json:"prn"`
	Aud json.RawMessage `json:"aud"`
	Exp json.Number     `json:"exp"`
}

// verifyJWT checks an RS256 assertion and returns its claims, or the OAuth error
// description Salesforce gives.
func (s *Server) verifyJWT(assertion string, key *rsa.PublicKey) (*jwtClaims, string) {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return nil, "invalid assertion"
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	cb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return nil, "invalid assertion"
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(hb, &hdr) != nil || hdr.Alg != "RS256" {
		return nil, "invalid assertion"
	}
	var c jwtClaims
	dec := json.NewDecoder(strings.NewReader(string(cb)))
	dec.UseNumber()
	if dec.Decode(&c) != nil {
		return nil, "invalid assertion"
	}
	if key != nil {
		h := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		if rsa.VerifyPKCS1v15(key, crypto.SHA256, h[:], sig) != nil {
			return nil, "invalid assertion"
		}
	}
	var auds []string
	var one string
	if json.Unmarshal(c.Aud, &one) == nil {
		auds = []string{one}
	} else if json.Unmarshal(c.Aud, &auds) != nil {
		return nil, "audience is invalid"
	}
	okAud := false
	for _, a := range auds {
		if s.audienceAllowed(a) {
			okAud = true
		}
	}
	if !okAud {
		return nil, "audience is invalid"
	}
	exp, err := strconv.ParseFloat(string(c.Exp), 64)
	if err != nil {
		return nil, "invalid assertion"
	}
	// exp is seconds; clients that send milliseconds are accepted, as Salesforce does.
	if exp < float64(s.now().Unix()) {
		return nil, "expired authorization code"
	}
	if c.Sub == "" {
		c.Sub = c.Prn
	}
	if c.Sub == "" || c.Iss == "" {
		return nil, "invalid assertion"
	}
	return &c, ""
}

func (s *Server) audienceAllowed(a string) bool {
	a = strings.TrimRight(a, "/")
	allowed := []string{s.baseURL, "https://login.salesforce.com", "https://test.salesforce.com"}
	for _, x := range strings.Split(s.opts.Audiences, ",") {
		if x = strings.TrimRight(strings.TrimSpace(x), "/"); x != "" {
			allowed = append(allowed, x)
		}
	}
	for _, x := range allowed {
		if strings.EqualFold(a, x) {
			return true
		}
	}
	return false
}

func (s *Server) issue(w http.ResponseWriter, user, clientId, secret string, withSignature bool, refresh string) {
	tok := s.store.orgId[:15] + "!AQ" + randomToken(72)
	now := s.now()
	s.tokMu.Lock()
	s.sessions[tok] = &session{User: user, ClientId: clientId, Issued: now}
	s.tokMu.Unlock()
	s.mu.Lock()
	s.dirty = true
	s.mu.Unlock()
	id := s.baseURL + "/id/" + s.store.orgId + "/" + s.store.userId
	resp := map[string]string{"access_token": tok, "instance_url": s.baseURL, "id": id, "token_type": "Bearer", "scope": "api"}
	if withSignature {
		issued := strconv.FormatInt(now.UnixMilli(), 10)
		if secret == "" {
			secret = "salesforce-sim"
		}
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(id + issued))
		resp["issued_at"] = issued
		resp["signature"] = base64.StdEncoding.EncodeToString(mac.Sum(nil))
	}
	if refresh != "" {
		resp["refresh_token"] = refresh
	}
	writeJSON(w, 200, resp)
}

func (s *Server) checkClient(w http.ResponseWriter, clientId, secret string, needSecret bool) bool {
	if s.opts.ClientId != "" && clientId != s.opts.ClientId {
		oauthError(w, "invalid_client_id", "client identifier invalid")
		return false
	}
	if needSecret && s.opts.ClientSecret != "" && secret != s.opts.ClientSecret {
		oauthError(w, "invalid_client", "invalid client credentials")
		return false
	}
	return true
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != "POST" {
		methodNotAllowed(w, r, "POST")
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	form, err := url.ParseQuery(string(body))
	if err != nil {
		oauthError(w, "invalid_request", "malformed request body")
		return
	}
	for k, v := range r.URL.Query() {
		if form.Get(k) == "" {
			form[k] = v
		}
	}
	if s.faults.takeTokenError() {
		oauthError(w, "invalid_grant", "authentication failure")
		return
	}
	clientId, secret := form.Get("client_id"), form.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		clientId, secret = u, p
	}
	switch form.Get("grant_type") {
	case "urn:ietf:params:oauth:grant-type:jwt-bearer":
		assertion := form.Get("assertion")
		if assertion == "" {
			oauthError(w, "invalid_request", "assertion is required")
			return
		}
		var key *rsa.PublicKey
		if s.opts.JWTPublicKey != "" {
			k, err := loadPublicKey(s.opts.JWTPublicKey)
			if err != nil {
				oauthError(w, "invalid_grant", "invalid assertion")
				return
			}
			key = k
		}
		c, desc := s.verifyJWT(assertion, key)
		if desc != "" {
			oauthError(w, "invalid_grant", desc)
			return
		}
		if s.opts.ClientId != "" && c.Iss != s.opts.ClientId {
			oauthError(w, "invalid_client_id", "client identifier invalid")
			return
		}
		if s.opts.Username != "" && c.Sub != s.opts.Username {
			oauthError(w, "invalid_grant", "user hasn't approved this consumer")
			return
		}
		s.issue(w, c.Sub, c.Iss, "", false, "")
	case "client_credentials":
		if clientId == "" || secret == "" {
			oauthError(w, "invalid_client", "invalid client credentials")
			return
		}
		if !s.checkClient(w, clientId, secret, true) {
			return
		}
		s.issue(w, "client-credentials-user", clientId, secret, true, "")
	case "password":
		if !s.checkClient(w, clientId, secret, true) {
			return
		}
		user, pw := form.Get("username"), form.Get("password")
		if user == "" || pw == "" || (s.opts.Username != "" && user != s.opts.Username) || (s.opts.Password != "" && pw != s.opts.Password) {
			oauthError(w, "invalid_grant", "authentication failure")
			return
		}
		s.issue(w, user, clientId, secret, true, "")
	case "refresh_token":
		rt := form.Get("refresh_token")
		if rt == "" || (s.opts.RefreshToken != "" && rt != s.opts.RefreshToken) {
			oauthError(w, "invalid_grant", "expired access/refresh token")
			return
		}
		if !s.checkClient(w, clientId, secret, secret != "") {
			return
		}
		s.issue(w, "refresh-user", clientId, secret, true, "")
	default:
		oauthError(w, "unsupported_grant_type", "grant type not supported")
	}
}

func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	form, _ := url.ParseQuery(string(body))
	tok := form.Get("token")
	if tok == "" {
		tok = r.URL.Query().Get("token")
	}
	s.tokMu.Lock()
	_, ok := s.sessions[tok]
	delete(s.sessions, tok)
	s.tokMu.Unlock()
	if !ok {
		writeJSON(w, 400, map[string]string{"error": "unsupported_token_type", "error_description": "this token type is not supported"})
		return
	}
	w.WriteHeader(200)
}

func (s *Server) handleIdentity(w http.ResponseWriter, r *http.Request) {
	if !s.validSession(bearer(r)) {
		w.WriteHeader(403)
		io.WriteString(w, "Bad_OAuth_Token")
		return
	}
	writeJSON(w, 200, map[string]any{
		"id": s.baseURL + "/id/" + s.store.orgId + "/" + s.store.userId, "user_id": s.store.userId,
		"organization_id": s.store.orgId, "username": "sim@example.com", "display_name": "Simulator User",
		"active": true, "user_type": "STANDARD", "language": "en_US", "locale": "en_US", "utcOffset": 0,
		"urls": map[string]string{"rest": s.baseURL + "/services/data/v{version}/", "sobjects": s.baseURL + "/services/data/v{version}/sobjects/",
			"query": s.baseURL + "/services/data/v{version}/query/"},
	})
}

var soapTagRe = func(tag string) *regexp.Regexp {
	return regexp.MustCompile(`<(?:[A-Za-z0-9_]+:)?` + tag + `>([^<]*)</(?:[A-Za-z0-9_]+:)?` + tag + `>`)
}

var soapUserRe, soapPassRe = soapTagRe("username"), soapTagRe("password")

func soapFault(w http.ResponseWriter, code, msg string) {
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(500)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:sf="urn:fault.partner.soap.sforce.com"><soapenv:Body><soapenv:Fault><faultcode>sf:%s</faultcode><faultstring>%s</faultstring></soapenv:Fault></soapenv:Body></soapenv:Envelope>`, code, html.EscapeString(msg))
}

// handleSoapLogin answers the partner SOAP login() that jsforce and other clients use
// when no OAuth client id is configured.
func (s *Server) handleSoapLogin(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	um, pm := soapUserRe.FindSubmatch(body), soapPassRe.FindSubmatch(body)
	if um == nil || pm == nil {
		soapFault(w, "INVALID_LOGIN", "INVALID_LOGIN: Invalid username, password, security token; or user locked out.")
		return
	}
	user, pw := html.UnescapeString(string(um[1])), html.UnescapeString(string(pm[1]))
	if (s.opts.Username != "" && user != s.opts.Username) || (s.opts.Password != "" && pw != s.opts.Password) || s.faults.takeTokenError() {
		soapFault(w, "INVALID_LOGIN", "INVALID_LOGIN: Invalid username, password, security token; or user locked out.")
		return
	}
	ver := strings.Trim(strings.TrimPrefix(r.URL.Path, "/services/Soap/u/"), "/")
	tok := s.store.orgId[:15] + "!AQ" + randomToken(72)
	s.tokMu.Lock()
	s.sessions[tok] = &session{User: user, Issued: s.now()}
	s.tokMu.Unlock()
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><loginResponse><result><metadataServerUrl>%[1]s/services/Soap/m/%[2]s/%[3]s</metadataServerUrl><passwordExpired>false</passwordExpired><sandbox>false</sandbox><serverUrl>%[1]s/services/Soap/u/%[2]s/%[3]s</serverUrl><sessionId>%[4]s</sessionId><userId>%[5]s</userId><userInfo><organizationId>%[3]s</organizationId><organizationName>Salesforce Sim</organizationName><userEmail>%[6]s</userEmail><userFullName>Simulator User</userFullName><userId>%[5]s</userId><userName>%[6]s</userName></userInfo></result></loginResponse></soapenv:Body></soapenv:Envelope>`,
		s.baseURL, ver, s.store.orgId, tok, s.store.userId, html.EscapeString(user))
}
