"""Sign-in hardening: the password lock shared by sign-in and signatures, the second factor's
enrolment tokens, and the no-store rule for signed-in pages."""
