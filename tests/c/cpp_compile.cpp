// The header compiled as C++ (g++ -std=c++17 -Wall -Wextra -Werror): extern "C" linkage, the
// typed enums, and calls through it.
#include "slotshift.h"

#include <cstdio>
#include <cstring>
#include <string>

int main() {
    int failures = 0;
    if (slotshift_key_slot(reinterpret_cast<const uint8_t *>("123456789"), 9) != 12739) failures++;
    slotshift_result code = SLOTSHIFT_RESULT_SERVER_WRONGTYPE;
    uint8_t buf[128];
    size_t n = 0;
    if (slotshift_result_message(code, buf, sizeof buf, &n) != SLOTSHIFT_RESULT_OK) failures++;
    if (std::string(reinterpret_cast<char *>(buf), n).rfind("WRONGTYPE", 0) != 0) failures++;
    slotshift_client *client = nullptr;
    slotshift_error *err = nullptr;
    if (slotshift_client_new("not a url ://", &client, &err) != SLOTSHIFT_RESULT_CONFIG) failures++;
    if (client != nullptr || err == nullptr) failures++;
    slotshift_error_free(err);
    if (std::strcmp(slotshift_version(), "") == 0) failures++;
    std::printf("c++: %d failed\n", failures);
    return failures == 0 ? 0 : 1;
}
