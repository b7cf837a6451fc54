// The IdP's SAML answer arrived without our session cookie (a cross-site POST): send the same
// form again from our own page, at once; without JavaScript the button does it.
document.getElementById("saml-resend").submit();
