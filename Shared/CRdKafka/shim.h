// librdkafka's C API. Compiled against Debian's headers (2.0.2); at run time
// the executables load librdkafka >= 2.3 from .deps/lib through their rpath
// (see infra/setup.sh and Package.swift). Only PPFBus imports this module.
#include <librdkafka/rdkafka.h>
