// libpq, PostgreSQL's C client. Only PPFStore imports this module.
#include <postgresql/libpq-fe.h>
