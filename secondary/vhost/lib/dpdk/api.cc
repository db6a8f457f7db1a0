#include "api.h"

namespace vswitch::vhost {

Driver& DefaultDriver() {
  static Driver driver;
  return driver;
}

}  // namespace vswitch::vhost
