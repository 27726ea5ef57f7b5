using System.ComponentModel.DataAnnotations;

namespace HaClient.Configuration;

/// <summary>Runs an options object's data annotations and reports each failure as <c>{prefix}{Member}: {message}</c>,
/// so every error names its setting.</summary>
public static class SettingsValidation
{
    /// <summary>Validates <paramref name="instance"/>'s data annotations; adds one line per failure to
    /// <paramref name="errors"/>, prefixed with the setting's path (<paramref name="prefix"/>, e.g. <c>ReplicaLag:</c>).</summary>
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
