/* The header included twice in one translation unit: the include guard makes the second one a
 * no-op (a duplicate typedef or enum would not compile). */
#include "slotshift.h"
#include "slotshift.h"

int double_include_slot(void);

int double_include_slot(void) {
    return slotshift_key_slot((const uint8_t *)"123456789", 9);
}
