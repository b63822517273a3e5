// The vfio-ap model's member functions, compiled once (the
// vfio_ap_model_compiled target; host.hpp says how). Nothing else belongs
// here: the definitions are host.hpp's, so the header-only build and this
// one run the same code.
#define ORDO_VFIO_AP_DEFINE 1
#include "vfio_ap/host.hpp"
