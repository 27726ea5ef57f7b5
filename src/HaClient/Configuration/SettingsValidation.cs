using System.ComponentModel.DataAnnotations;

namespace HaClient.Configuration;

/// <summary>Runs an options object's data annotations and reports each failure as <c>{prefix}{Member}: {message}</c>,
/// so every error names its setting.</summary>
internal static class SettingsValidation
{
    public static void Annotate(object instance, string prefix, List<string> errors)
    {
        var results = new List<ValidationResult>();
        if (!Validator.TryValidateObject(instance, new ValidationContext(instance), results, validateAllProperties: true))
        {
            foreach (var r in results)
            {
                var member = r.MemberNames.FirstOrDefault() ?? string.Empty;
                errors.Add($"{prefix}{member}: {r.ErrorMessage}");
            }
        }
    }
}
