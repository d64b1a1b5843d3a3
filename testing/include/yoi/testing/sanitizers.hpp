#pragma once
// Whether this build runs under AddressSanitizer. Its allocator quarantines
// freed memory (256 MiB by default) and maps shadow memory, so a process's
// resident set says little about what the program holds: tests keep their
// functional checks under ASan and assert RSS bounds only without it (the
// g++ run of the suite checks them).

namespace yoi::testing {

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kUnderAsan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kUnderAsan = true;
#else
inline constexpr bool kUnderAsan = false;
#endif
#else
inline constexpr bool kUnderAsan = false;
#endif

// RSS bounds are asserted only where they measure the program.
inline constexpr bool kRssMeaningful = !kUnderAsan;

}  // namespace yoi::testing
